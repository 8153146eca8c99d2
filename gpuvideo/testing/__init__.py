"""Test helpers shipped with gpuvideo: a corpus of broken and odd videos, file mutations for fuzzing, and a
runner that calls a function in a child process with a time limit (for decoders that might hang or crash).

Nothing here is imported by the library itself.
"""
from .corpus import ANY, BAD, EXACT, EXPECTED, REPORTED, SERVED, CorpusFile, examine, index_of, write_corpus
from .isolate import ChildCrashed, Isolated

__all__ = ["ANY", "BAD", "EXACT", "EXPECTED", "REPORTED", "SERVED", "CorpusFile", "examine", "index_of",
           "write_corpus", "ChildCrashed", "Isolated"]
