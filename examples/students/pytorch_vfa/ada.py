# Ada's submission is the instructor's solution: full marks.
