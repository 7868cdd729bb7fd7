import os

# Real pygame, no window or sound card: set before anything imports pygame.
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

# A simulator a developer turned on for their game must not reach the tests,
# nor the programs they start: tests that simulate say so themselves.
os.environ.pop("PYGNETIC_SIMULATE", None)
