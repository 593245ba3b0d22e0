"""Training bases (实训基地): built with partner enterprises, shared between teaching and the
pilots' certificate training and exams."""
