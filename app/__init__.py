"""The face of SSL Lab: Streamlit pages and small shared widgets. No ML logic lives here."""
