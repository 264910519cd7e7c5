"""The Probe page's three parts, one module each: the latent shortcut lab (`latent`), shortcuts in pictures
(`images`), and factor probes of a checkpoint (`factors`). The page script, app/pages/probe.py, picks one."""
