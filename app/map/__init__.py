"""The Map page's pieces: cached computation (`compute`), the chart (`chart`), and what a selection shows
(`gallery`). The page script, app/pages/map.py, puts them together."""
