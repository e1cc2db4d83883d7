"""The process around the library: what it runs on, and native libraries kept quiet.

provenance.py  package versions and the platform, for config.json, model metadata and `digitrec info`
quiet.py       file descriptor 2 closed while a native library starts (TensorFlow's, Ray's)
"""
