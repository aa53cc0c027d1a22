# Dev handed in the release untouched: every part raises NotImplementedError.
# release: true
