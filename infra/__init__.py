"""The one description of borgerdialog's AWS resources, and the code that builds it locally."""
