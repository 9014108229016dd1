from .checked_load_panoptic_annotations import CheckedLoadPanopticAnnotations
from .load_polygon_annotations import LoadPolygonAnnotations
from .loading import CheckedLoadImageFromFile

__all__ = ['CheckedLoadImageFromFile', 'CheckedLoadPanopticAnnotations', 'LoadPolygonAnnotations']
