"""The NAB benchmark: the streaming detector over NAB-layout data, scored by NAB's rules."""

from healer.bench.nab.corpus import NabFile, Window, read_corpus
from healer.bench.nab.runner import FileRun, detect_file, run_nab, table, write_detections
from healer.bench.nab.scoring import PROFILES, FileScore, Profile, normalised, score_file

__all__ = [
    "PROFILES",
    "FileRun",
    "FileScore",
    "NabFile",
    "Profile",
    "Window",
    "detect_file",
    "normalised",
    "read_corpus",
    "run_nab",
    "score_file",
    "table",
    "write_detections",
]
