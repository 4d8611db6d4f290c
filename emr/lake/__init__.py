"""The lake's PySpark library: pure transforms (DataFrame in, DataFrame out) and the few
functions that touch the catalog or the file system. Jobs under emr/jobs/ are thin mains."""
