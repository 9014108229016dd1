"""Online serving of CenterMask on Ray Serve (the ``serve`` extra): request checks, the answer per
image and the deployment (``tools/deployment/serve.py`` starts it)."""
from .answer import image_answer
from .image_request import BadRequest, ImageLimits, decode_image

__all__ = ['BadRequest', 'ImageLimits', 'decode_image', 'image_answer']
