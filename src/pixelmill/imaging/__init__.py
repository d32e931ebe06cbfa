"""The pure imaging engine: numpy/OpenCV/Pillow in, arrays out; no web, database or queues."""
