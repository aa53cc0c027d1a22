"""Assignment plug-ins of this course, one package per assignment."""
