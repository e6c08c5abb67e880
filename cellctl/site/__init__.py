"""Reading a whole site's station stores on one machine (forensics, `--store`)."""
