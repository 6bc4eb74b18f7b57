"""A real Dask cluster for the executor's tests (base and boards): a LocalCluster of worker
processes with a client on it, and how many tasks its workers ran while some work ran."""
from contextlib import contextmanager

import distributed


@contextmanager
def local_cluster(workers=2):
    """(cluster, client): ``workers`` single-threaded worker processes on this machine."""
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as c:
        with distributed.Client(c) as client:
            yield c, client


def tasks_run(client, work):
    """How many tasks the cluster's workers ran while ``work()`` ran, and its result."""
    with distributed.get_task_stream(client) as ts:
        result = work()
    return len(ts.data), result
