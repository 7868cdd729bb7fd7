"""The replicated dots client: draws the Dots the server replicates to it."""

import random
import sys

import pygame
import pygnetic
import pygnetic.event as event
from pygnetic.syncobject import SyncObjectManager

from world import PORT, Dot, you


def main():
    host = sys.argv[1] if len(sys.argv) > 1 else "localhost"
    pygame.init()
    pygnetic.init(events=True)
    screen = pygame.display.set_mode((640, 480))
    pygame.display.set_caption("replicated dots")
    font = pygame.font.Font(None, 24)
    clock = pygame.time.Clock()

    client = pygnetic.Client()
    dots = SyncObjectManager(client)  # replicas of the server's Dots appear here
    connection = client.connect(host, PORT)
    status = f"connecting to {host}..."
    me = pygame.Vector2(random.randint(50, 590), random.randint(50, 430))
    my_id = None  # the sync_id of my own Dot, once the server says

    running = True
    while running:
        client.update()  # also brings the replicas up to date
        for e in pygame.event.get():
            if e.type == pygame.QUIT:
                running = False
            elif e.type == event.NETWORK:
                if e.net_type == event.NET_CONNECTED:
                    status = "connected"
                elif e.net_type == event.NET_DISCONNECTED:
                    status = f"disconnected: {e.reason}"
                elif e.net_type == event.NET_RECEIVED and e.msg_type == you:
                    my_id = e.message.sync_id

        keys = pygame.key.get_pressed()
        me.x += 4 * (keys[pygame.K_RIGHT] - keys[pygame.K_LEFT])
        me.y += 4 * (keys[pygame.K_DOWN] - keys[pygame.K_UP])
        if connection.connected:
            connection.net_move(round(me.x), round(me.y))

        screen.fill("black")
        if connection.connected:  # replicas keep their last values once it ends
            for dot in dots.of_type(Dot):
                if dot.sync_id != my_id:
                    pygame.draw.circle(screen, "tomato", (dot.x, dot.y), 12)
        pygame.draw.circle(screen, "gold", me, 12)
        screen.blit(font.render(status, True, "white"), (10, 10))
        pygame.display.flip()
        clock.tick(60)

    client.close()
    pygame.quit()


if __name__ == "__main__":
    main()
