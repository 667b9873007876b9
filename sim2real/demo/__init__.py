"""Small synthetic datasets in the original layouts of KITTI, Virtual KITTI 2 and BDD100K, to try the whole
study without the real datasets (`sim2real demo data DIR`). Pure numpy and Pillow."""

from sim2real.demo.data import DemoData, write_demo_data

__all__ = ["DemoData", "write_demo_data"]
