"""The one exception type of :mod:`fastnn.datasets`."""


class DatasetError(ValueError):
    """A data set cannot be found, downloaded, verified or read.

    The message names the dataset or file, says what is wrong and what to do
    about it. It subclasses :class:`ValueError`, so an unknown dataset name or a
    bad argument can be caught either way.
    """
