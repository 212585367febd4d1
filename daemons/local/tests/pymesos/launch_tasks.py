"""A pymesos 0.3.15 scheduler, written only against pymesos's public API: it subscribes,
launches N command tasks from the offers it gets, and exits 0 once all of them finished.

Usage: launch_tasks.py MASTER_HOST:PORT N
"""
import socket
import sys
import threading

from addict import Dict
from pymesos import MesosSchedulerDriver, Scheduler

TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR",
            "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR"}


class LaunchTasks(Scheduler):
    def __init__(self, total):
        self.total = total
        self.launched = 0
        self.finished = 0
        self.failed = 0
        self.lock = threading.Lock()

    def resourceOffers(self, driver, offers):
        for offer in offers:
            cpus = sum(r.scalar.value for r in offer.resources if r.name == "cpus")
            mem = sum(r.scalar.value for r in offer.resources if r.name == "mem")
            tasks = []
            while self.launched < self.total and cpus >= 0.1 and mem >= 32:
                task = Dict()
                task.task_id.value = "pymesos-%d" % self.launched
                task.agent_id.value = offer.agent_id.value
                task.name = task.task_id.value
                task.command.value = "echo hello from pymesos"
                task.resources = [
                    dict(name="cpus", type="SCALAR", scalar={"value": 0.1}),
                    dict(name="mem", type="SCALAR", scalar={"value": 32}),
                ]
                tasks.append(task)
                self.launched += 1
                cpus -= 0.1
                mem -= 32
            if tasks:
                driver.launchTasks(offer.id, tasks)
            else:
                driver.declineOffer(offer.id, Dict(refuse_seconds=60))

    def statusUpdate(self, driver, update):
        print("%s %s" % (update.task_id.value, update.state), flush=True)
        if update.state in TERMINAL:
            with self.lock:
                if update.state == "TASK_FINISHED":
                    self.finished += 1
                else:
                    self.failed += 1
                if self.finished + self.failed == self.total:
                    driver.stop()


def main():
    master, total = sys.argv[1], int(sys.argv[2])
    framework = Dict()
    framework.user = "root"
    framework.name = "pymesos-launch-tasks"
    framework.hostname = socket.gethostname()
    scheduler = LaunchTasks(total)
    driver = MesosSchedulerDriver(scheduler, framework, master, use_addict=True)
    driver.run()
    print("finished %d of %d" % (scheduler.finished, total), flush=True)
    sys.exit(0 if scheduler.finished == total else 1)


if __name__ == "__main__":
    main()
