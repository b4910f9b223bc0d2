"""Backend-specific train steps. Only `backend/tensorflow.py` imports TensorFlow."""
