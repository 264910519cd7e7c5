"""Training: the config, learning-rate schedules, the trainer, run folders and presets."""
