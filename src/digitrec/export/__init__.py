"""Export a trained model for serving without digitrec's training stack.

convert.py   ONNX (for ONNX Runtime) or a TensorFlow SavedModel, with metadata beside the file
quantize.py  int8 static quantization of an ONNX export (`export --int8`)
"""
