"""Generated from proto/stalk/v1 by scripts/gen_protos.py: do not edit."""
