"""Text analysis of one capture: heads against their average and one full-width head, statistics, walkthrough."""
