"""Browser tests: a real Airflow API server, driven through its UI in headless Chromium."""
