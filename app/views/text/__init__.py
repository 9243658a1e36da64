"""The Text page's tabs: maps, single vs multi-head, the Q·K·V walkthrough, bertviz."""
