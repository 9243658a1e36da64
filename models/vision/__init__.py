"""Vision analysis of one capture: photo decoding, focus maps and rollout, saliency."""
