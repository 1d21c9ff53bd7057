"""leadrelay: the composition root and the edges (API, CLI, console). The core is `connector`."""
