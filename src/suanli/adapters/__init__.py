"""Adapters: the edges where suanli meets databases, execution engines and text models."""
