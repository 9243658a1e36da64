"""The Atlas page's views: building an atlas, the layers × heads grid, one head's card."""
