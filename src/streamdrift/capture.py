"""The capture SDK's old import path: ``from streamdrift.capture import CaptureClient`` keeps working.

The client lives in :mod:`streamdrift.sdk.client`."""

from streamdrift.sdk.client import CaptureClient, keep_sample, new_inference_ids

__all__ = ["CaptureClient", "keep_sample", "new_inference_ids"]
