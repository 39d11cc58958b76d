"""Live updates: change events published after commit, fanned out to subscribers."""
