"""Placeholder while this optimizer is being written."""

INFOS: list = []
