"""The dots client: move your dot with the arrow keys, see everyone else's."""

import random
import sys

import pygame
import pygnetic
import pygnetic.event as event

from messages import PORT, left, moved


def main():
    host = sys.argv[1] if len(sys.argv) > 1 else "localhost"
    pygame.init()
    pygnetic.init(events=True)  # after pygame.init(), before Client()
    screen = pygame.display.set_mode((640, 480))
    pygame.display.set_caption("dots")
    font = pygame.font.Font(None, 24)
    clock = pygame.time.Clock()

    client = pygnetic.Client()
    connection = client.connect(host, PORT)
    status = f"connecting to {host}..."
    me = pygame.Vector2(random.randint(50, 590), random.randint(50, 430))
    others = {}  # player id -> (x, y)

    running = True
    while running:
        client.update()  # send and receive; posts NETWORK events
        for e in pygame.event.get():
            if e.type == pygame.QUIT:
                running = False
            elif e.type == event.NETWORK:
                if e.net_type == event.NET_CONNECTED:
                    status = "connected"
                elif e.net_type == event.NET_DISCONNECTED:
                    status = f"disconnected: {e.reason}"
                    others.clear()
                elif e.net_type == event.NET_RECEIVED:
                    if e.msg_type == moved:
                        others[e.message.player] = (e.message.x, e.message.y)
                    elif e.msg_type == left:
                        others.pop(e.message.player, None)

        keys = pygame.key.get_pressed()
        me.x += 4 * (keys[pygame.K_RIGHT] - keys[pygame.K_LEFT])
        me.y += 4 * (keys[pygame.K_DOWN] - keys[pygame.K_UP])
        if connection.connected:
            connection.net_move(round(me.x), round(me.y))

        screen.fill("black")
        for position in others.values():
            pygame.draw.circle(screen, "tomato", position, 12)
        pygame.draw.circle(screen, "gold", me, 12)
        screen.blit(font.render(status, True, "white"), (10, 10))
        pygame.display.flip()
        clock.tick(60)

    client.close()  # before pygame.quit(): closing still posts events
    pygame.quit()


if __name__ == "__main__":
    main()
