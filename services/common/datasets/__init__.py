"""Dataset readers into one canonical per-image form (pure Python; no torch, cv2, storage or database).

Import the submodules directly (``services.common.datasets.kitti`` …); this package stays light so
the API process can import it.
"""
