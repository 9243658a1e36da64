"""The Vision page's tabs: pooling focus, any patch, rollout, saliency, the seed-000 head, photo search."""
