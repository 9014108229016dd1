from .load_polygon_annotations import LoadPolygonAnnotations
from .loading import CheckedLoadImageFromFile

__all__ = ['CheckedLoadImageFromFile', 'LoadPolygonAnnotations']
