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


def throughput_parser(description: str, default_batch: int, small_help: str,
                      results_name: str) -> argparse.ArgumentParser:
  """--batch_size, --small (a few seconds' check) and --output, for the throughput tables."""
  parser = argparse.ArgumentParser(description=description)
  parser.add_argument("--batch_size", type=int, default=default_batch)
  parser.add_argument("--small", action="store_true",
                      help=f"a few seconds' check: {small_help}; writes no results file")
  parser.add_argument("--output", default=None,
                      help=f"markdown file (default: benchmarks/results/{results_name})")
  return parser


def write_unless_small(args: argparse.Namespace, default_path: str, title: str, command: str,
                       table: str) -> None:
  """Writes the table to --output, else to `default_path` unless it is a --small check,
  which only prints it."""
  output = args.output or (None if args.small else default_path)
  if output:
    write(output, title, command, table)
  else:
    print("\n" + table)
