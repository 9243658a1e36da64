"""The Multi-Token Attention page's tabs: convolved maps of a real model, the trained toy models."""
