"""digitrec export: a run or .keras model as ONNX (for ONNX Runtime) or a TensorFlow SavedModel."""

from __future__ import annotations

import argparse

from digitrec.cli._options import add_data_option, nonempty_path, ranged
from digitrec.errors import UsageError
from digitrec.rundir import DEFAULT_OPSET, EXPORT_FORMATS

opset = ranged(int, lambda v: 13 <= v <= 18, "13–18 (tf2onnx converts up to 18; ONNX Runtime ≥ 1.13 loads 17)")


def add_parser(sub) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "export",
        help="export a model to ONNX or a TensorFlow SavedModel",
        description="Export a run directory, an ensemble run directory (one graph averaging its members) or a "
        ".keras file. The export takes float32 images (batch, 28, 28, 1) scaled to [0, 1] as "
        "'images' and returns float32 'probabilities' (batch, 10); OUTPUT.json beside it records "
        "the source, tensor names, versions and SHA-256.",
    )
    parser.add_argument("source", metavar="RUN_DIR_OR_MODEL", type=nonempty_path, help="run directory or .keras file")
    parser.add_argument("--format", choices=EXPORT_FORMATS, default="onnx", help="default: onnx")
    parser.add_argument(
        "--output",
        "-o",
        type=nonempty_path,
        metavar="PATH",
        help="default: model.onnx / model_savedmodel in the run directory, or beside the .keras file",
    )
    parser.add_argument(
        "--opset", type=opset, default=DEFAULT_OPSET, help=f"ONNX opset, 13–18 (default {DEFAULT_OPSET})"
    )
    parser.add_argument(
        "--int8",
        action="store_true",
        help="quantize the ONNX export to int8 (several times faster on CPUs with VNNI), "
        "calibrated on 1,000 training images of --data; default output model.int8.onnx",
    )
    add_data_option(parser, use="with --int8, the calibration images: ")
    parser.add_argument("--force", action="store_true", help="replace an existing output and its metadata")
    return parser


def run(args) -> int:
    from digitrec.export.convert import export_model, read_metadata
    from digitrec.rundir import metadata_path

    if args.int8 and args.format != "onnx":
        raise UsageError("--int8 applies to --format onnx only")
    if args.data is not None and not args.int8:
        raise UsageError("--data gives --int8 its calibration images; without --int8 it has no use")
    calibration = (lambda: _calibration_images(args.data)) if args.int8 else None  # read once all else is checked
    output = export_model(
        args.source, args.format, args.output, opset=args.opset, force=args.force, int8_calibration=calibration
    )
    meta = read_metadata(output)
    kind = f"ONNX opset {meta['opset']}" if args.format == "onnx" else "TensorFlow SavedModel"
    kind += ", int8" if "quantization" in meta else ""
    members = f", ensemble of {meta['members']}" if meta["members"] > 1 else ""
    print(
        f"wrote {output} ({kind}{members}; images → probabilities; sha256 {meta['sha256'][:12]}…), "
        f"metadata {metadata_path(output)}"
    )
    return 0


def _calibration_images(spec: str | None):
    from digitrec.data import load_dataset
    from digitrec.export.quantize import calibration_images

    return calibration_images(load_dataset(spec, with_test=False).x_train)
