"""Stages over whole shard sets: ``mix`` several sets into one, ``split`` one set into train/val/test."""
