"""Review s33/h15 of the latest changes: code.parses judges a prose document by its fenced blocks alone, and code
whose lines read as sentences (a Python module that is mostly docstring, a shell script of echo lines) was taken for
such a document, so its syntax error went unjudged (parses None)."""

from __future__ import annotations

from mira_core.teachers.rules.assess import assess

DOCSTRING_MODULE = ('"""This module computes the mean of the data.\n\nIt reads the values from the input file.\n'
                    'It writes the mean to the output file.\nIt handles empty inputs by returning zero.\n"""\n\n'
                    "def mean(xs:\n    return sum(xs) / len(xs)\n")
ECHO_SCRIPT = ('#!/bin/sh\necho "Starting the build now."\necho "Copying the files to the output."\n'
               'echo "Done with the build step."\nif [ -f x ]; then\n  echo "x"\n')


def _parses(text: str):
    return assess("code", text, ["parses"])["parses"]


def test_a_mostly_docstring_python_module_that_does_not_parse_fails_parses():
    found = _parses(DOCSTRING_MODULE)
    assert found.score == 1 and "SyntaxError" in found.reason


def test_a_shell_script_of_echoed_sentences_with_an_open_if_fails_parses():
    found = _parses(ECHO_SCRIPT)
    assert found.score == 2 and "'fi'" in found.reason


def test_a_markdown_document_is_still_judged_by_its_fences():
    md = '# Notes\n\nThe tool reads a file.\nIt writes """quoted""" text too.\nDon\'t run it as root.\n'
    assert _parses(md).score in (None, 5)


def test_a_clustering_of_only_pinned_sources_says_none_ran():
    """Every source pinned: the info described a k-means and silhouettes over the pinned sources (review s33)."""
    import numpy as np

    from mira_core.config import GroupParams
    from mira_core.grouping import cluster

    names = ["a", "b", "c", "d"]
    x = np.eye(4, 8)
    assign, info = cluster(names, x, GroupParams(k="auto", pins={"a": "web", "b": "web", "c": "code", "d": "qa"}))
    assert assign == {"a": "web", "b": "web", "c": "code", "d": "qa"}
    assert info["method"] == "every source pinned (group.pins)" and info["k"] == 3 and info["silhouette_by_k"] == {}
