SELECT {function}(%(chunk)s::regclass, if_compressed => true)
