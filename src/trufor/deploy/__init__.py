"""Deployment outside the PyTorch engine: ONNX export and the ONNX Runtime / OpenVINO backends."""
