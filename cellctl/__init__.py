"""cellctl: shop-floor kiosk and production-cell controller."""

__version__ = "0.1.0"
