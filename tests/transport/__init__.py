"""Tests of the transport seam against raw, hostile peers (both engines each)."""
