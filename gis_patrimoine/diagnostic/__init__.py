"""The shared diagnostic: the questionnaire workbook, its import and export."""
