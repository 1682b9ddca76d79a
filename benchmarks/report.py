"""Command lines and results files shared by the feature-map benchmarks."""

import argparse
import os

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def feature_map_parser(description: str) -> argparse.ArgumentParser:
  """--sizes (square maps) and --channels, as in the authors' timing table."""
  parser = argparse.ArgumentParser(description=description)
  parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512, 1024])
  parser.add_argument("--channels", type=int, default=32)
  return parser


def write(path: str, title: str, command: str, table: str) -> None:
  """Prints the table and writes it to `path` under a title and the command that made it."""
  print("\n" + table)
  with open(path, "w") as f:
    f.write(f"# {title}\n\nCommand: `{command}`\n\n{table}\n")
  print(f"\nwritten to {path}")
